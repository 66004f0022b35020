"""The dispatch optimizer, pure: Problem in, Plan out (OR-Tools, geopy and msgspec only). Arrives with the scheduling issue."""
