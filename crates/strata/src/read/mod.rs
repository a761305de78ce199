//! Reading a snapshot's rows: scans with projection, filters and data skipping.

pub mod scan;
