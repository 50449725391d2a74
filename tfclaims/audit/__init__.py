"""The audit trail: a hash-chained record of every run, tied to the privacy notice's purposes
through the purposes register."""
