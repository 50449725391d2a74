"""Link: attach every event row to a person (given ids, exact identifiers, name and date of birth,
then a probabilistic pass), sending the doubtful ones to review."""
