"""The command line programs: hsh (scripts), halonctl (control), halonconfig (config builder)."""
