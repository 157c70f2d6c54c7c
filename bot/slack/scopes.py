"""What the Slack app must be granted, declared once: the Web API methods the bot calls with its bot
token and the scopes each needs, the events its Bolt listeners subscribe to, and its slash command.

deploy/slack-manifest.json is the app's definition (pasted into Slack's "create from manifest"); a
test checks it against this module, and this module against the code (every Slack method called in
bot/ is listed here, every `app.event(...)` has its subscriptions), so neither can drift.
"""

from __future__ import annotations

# Bot-token Web API methods and the scopes they need (none: Slack checks nothing beyond the token).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    # The bot's own thread posts of a citizen's words, when their data is deleted.
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "reactions.add": ("reactions:write",),
    "views.open": (),
    "views.publish": (),
    "users.info": ("users:read",),
    # Case channels are meant to be private: both kinds are read.
    "conversations.info": ("channels:read", "groups:read"),
    "conversations.members": ("channels:read", "groups:read"),
    # Deleting a citizen's data: the copies of their case's card and thread posts, found by metadata
    # (the same scopes the thread messages' events need already).
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    # files_upload_v2: a photo a citizen sends on LINE goes into the case thread.
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}

# The event types Bolt listeners are registered for, and the subscriptions that deliver them with the
# scopes those need. A `message` in a case thread may be in a public or a private channel.
EVENT_SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "message": ("message.channels", "message.groups"),
    "app_mention": ("app_mention",),
    "app_home_opened": ("app_home_opened",),
}
SUBSCRIPTION_SCOPES: dict[str, tuple[str, ...]] = {
    "message.channels": ("channels:history",),
    "message.groups": ("groups:history",),
    "app_mention": ("app_mentions:read",),
    "app_home_opened": (),
}

SLASH_COMMANDS: dict[str, tuple[str, ...]] = {"/madoguchi": ("commands",)}

# Not asked for, on purpose: chat:write.public (the bot posts only where it was invited; `madoguchi
# doctor` checks it is a member of every configured channel) and im:write (staff are answered with
# ephemeral messages in the channel, never in a direct message).


def bot_scopes() -> set[str]:
    """Every bot-token scope the code needs."""
    scopes = {s for needed in METHOD_SCOPES.values() for s in needed}
    scopes |= {s for needed in SUBSCRIPTION_SCOPES.values() for s in needed}
    scopes |= {s for needed in SLASH_COMMANDS.values() for s in needed}
    return scopes


def bot_events() -> set[str]:
    return {e for subscriptions in EVENT_SUBSCRIPTIONS.values() for e in subscriptions}
