"""Wire structs: per-role write structs that forbid unknown fields, and read structs that show only what a role may see."""
