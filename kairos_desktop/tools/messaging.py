"""SendUserMessage and PushNotification: the only ways the model talks to the user."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from .base import Tool, ToolContext, ToolResult
from .web import with_sources


class SendUserMessageInput(BaseModel):
    message: str = Field(..., min_length=1, description="The message, in Markdown.")
    status: Literal["normal", "proactive"] = Field(
        ...,
        description=(
            "'normal' when answering something the user said; 'proactive' when you reach out on "
            "your own (a finding, a reminder, a finished background job)."
        ),
    )
    attachments: list[str] = Field(
        default_factory=list,
        description="Paths of files to deliver with the message (workspace or allowed folders).",
    )


async def _send_user_message(ctx: ToolContext, args: SendUserMessageInput) -> ToolResult:
    # A turn that read the web: the pages it relied on are named, whatever the model wrote.
    text = with_sources(args.message, ctx.turn.web_sources)
    record = await ctx.deliveries.message(text, args.status, args.attachments,
                                          call_id=ctx.turn.call_id)
    ctx.turn.sent_messages += 1
    ctx.turn.actions.append("message")
    extra = f" with {len(record['attachments'])} attachment(s)" if record["attachments"] else ""
    return ToolResult(f"Delivered message {record['id']}{extra}.")


class PushNotificationInput(BaseModel):
    title: str = Field(..., min_length=1, max_length=120)
    body: str = Field(..., min_length=1, max_length=1_000)


async def _push_notification(ctx: ToolContext, args: PushNotificationInput) -> ToolResult:
    shown = await ctx.deliveries.push(args.title, args.body, in_chat=True,
                                      call_id=ctx.turn.call_id)
    ctx.turn.actions.append("notification")
    if shown:
        return ToolResult("Notification shown.")
    return ToolResult(
        "The notification could not be shown (notifications are off or no notification server "
        "answered). Use SendUserMessage so the user sees it in the chat.",
        is_error=True,
    )


MESSAGING_TOOLS: list[Tool[Any]] = [
    Tool(
        name="SendUserMessage",
        description=(
            "Send the user a message. Everything the user should read must go through this tool: "
            "plain text you write outside it is not shown to them. Keep it short and worth their "
            "attention; proactive messages may raise a desktop notification."
        ),
        input_model=SendUserMessageInput,
        handler=_send_user_message,
    ),
    Tool(
        name="PushNotification",
        description=(
            "Show a desktop notification right away. Only for something time-sensitive that the "
            "user would want to be interrupted for; otherwise prefer SendUserMessage."
        ),
        input_model=PushNotificationInput,
        handler=_push_notification,
    ),
]
