//! The storage of mta-sts: migrations with a recorded schema version, SQLite (a file in WAL
//! mode, the embedded default) and PostgreSQL (shared by a fleet) behind one interface, and the
//! stores the engines keep their data in.
