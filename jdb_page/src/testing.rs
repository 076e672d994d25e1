//! Test support: storages that inject faults (owned by the fault-injection work, issue 7).
