"""The LINE adapter: webhook intake, translation to and from the neutral model, and delivery."""
