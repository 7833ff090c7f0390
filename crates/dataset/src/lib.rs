//! xodvox-dataset (being built).
