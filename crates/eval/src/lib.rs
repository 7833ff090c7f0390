//! xodvox-eval (being built).
