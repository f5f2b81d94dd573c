"""Price alerts: what a user asked to be told about, and when a closed minute says so."""
