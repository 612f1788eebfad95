//! The outbox: built reports and one delivery per destination, kept in the store so a restart
//! loses nothing; delivering what is due.
