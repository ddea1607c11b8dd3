//! Run reports for people and CI.
