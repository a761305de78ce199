//! Table operations above reading and writing: history, diff, tags, restore and revert,
//! optimize and vacuum. Each commits through [`crate::transaction`].

pub mod diff;
pub mod history;
pub mod optimize;
pub mod restore;
pub mod tags;
pub mod vacuum;
