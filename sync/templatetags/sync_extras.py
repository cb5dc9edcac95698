from django import template

from sync import rules
from sync.models import ErrorCategory
from sync.selectors import ERROR_FIXES

register = template.Library()


@register.filter
def crm_message(message: str) -> str:
    """A CRM's message cut to a readable length, without query text or ID lists."""
    return rules.message_readable(message)


@register.filter
def error_fix(category: str) -> str:
    """What an admin can do about an error of this category, in plain words."""
    return ERROR_FIXES.get(category, ERROR_FIXES[ErrorCategory.OTHER])
