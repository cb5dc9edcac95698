from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from sync import labels, rules, rules_errors
from sync.models import ErrorCategory
from sync.selectors_log import ERROR_FIXES

register = template.Library()


@register.filter
def crm_message(message: str) -> str:
    """A CRM's message cut to a readable length, without query text or ID lists."""
    return rules_errors.message_readable(message)


@register.filter
def error_fix(category: str) -> str:
    """What an admin can do about an error of this category, in plain words."""
    return ERROR_FIXES.get(category, ERROR_FIXES[ErrorCategory.OTHER])


@register.filter
def property_value(value, property_name: str):
    """A HubSpot property value in words: an option's label, a timestamp as a datetime."""
    return labels.property_value(property_name=property_name, value=value)


@register.filter
def hubspot_label(name: str) -> str:
    """A HubSpot company property's label (Industry for industry), else its name."""
    return labels.field_label(name=name, crm=labels.HUBSPOT)


@register.filter
def salesforce_label(name: str) -> str:
    return labels.field_label(name=name, crm=labels.SALESFORCE)


@register.filter
def salesforce_value(value, field_name: str):
    """A Salesforce Account value in words: a picklist value's label."""
    return labels.property_value(property_name=field_name, value=value, crm=labels.SALESFORCE)


@register.filter
def changes_in_words(event) -> list[tuple[str, object, object]]:
    """A logged attempt's changes as (field, old, new) in words: HubSpot property values when it
    went to HubSpot, Salesforce field values when it went to Salesforce."""
    crm = labels.HUBSPOT if event.direction == rules.TO_HUBSPOT else labels.SALESFORCE
    return [
        (name, *(labels.property_value(property_name=name, value=v, crm=crm) for v in values[:2]))
        for name, values in (event.changes or {}).items() if isinstance(values, list) and len(values) >= 2
    ]


@register.filter
def option_label(value, property_name: str):
    return labels.option_label(property_name=property_name, value=value) if isinstance(value, str) else value


@register.filter
def action_words(action: str) -> str:
    return labels.action_words(action)


@register.filter
def setting_value(value, setting: str) -> str:
    return labels.setting_change_words(setting=setting, value=value)


@register.filter
def setting_name(setting: str) -> str:
    return labels.setting_name_words(setting=setting)


@register.filter
def is_datetime(value) -> bool:
    return hasattr(value, "tzinfo") and hasattr(value, "hour")


@register.simple_tag
def chart_bars(chart) -> str:
    """A chart's bars as SVG rects, each titled with its bucket's start in the admin's zone and
    its count. Built here rather than in the template (a 24-hour chart has up to 576 rects, and
    the template language takes about a millisecond for each), with strftime rather than Django's
    ``date`` (ten times slower), the zone looked up and each series' names escaped once a chart
    rather than once a rect."""
    zone = timezone.get_current_timezone()
    escaped = {s.css_class: (escape(s.css_class), escape(s.name)) for s in chart.series}
    rects = []
    for bar in chart.bars:
        if not bar["rects"]:
            continue
        local = bar["start"].astimezone(zone)
        start = f"{local:%a} {local.day} {local:%b %H:%M}"  # "D j M H:i": English, as every page is
        for rect in bar["rects"]:
            css_class, name = escaped[rect["css_class"]]
            rects.append(
                f'<rect x="{bar["x"]}" y="{rect["y"]}" width="{bar["width"]}" height="{rect["height"]}" class="{css_class}">'
                f'<title>{start}: {int(rect["count"])} {name}</title></rect>'
            )
    return mark_safe("".join(rects))
