"""Local fake LINE and Slack platforms for tests and `madoguchi demo`."""
