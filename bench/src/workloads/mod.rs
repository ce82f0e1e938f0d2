//! The workloads, one file each.

pub mod crud;
pub mod import;
pub mod read;
pub mod search;
pub mod seed;
