"""The command line programs: halonctl, hsh and halonconfig."""
