"""The rules: outcome frameworks and local outcome plans as data over a typed catalogue of
indicators; ``identify`` (eligibility) and ``track`` (outcomes) evaluate them."""
