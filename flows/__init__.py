"""What the bot says and decides, with no knowledge of LINE or Slack."""
