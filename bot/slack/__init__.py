"""The Slack staff desk: case cards, threads, buttons and modals through Bolt."""
