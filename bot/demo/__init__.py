"""`madoguchi demo`: the whole center on one machine, with the fake LINE and Slack platforms and one web page."""
