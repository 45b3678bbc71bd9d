from __future__ import annotations

from typing import Any

from django import forms

from dms_admin.schedules import validate_cron, validate_timezone
from spam.models import TrainingSchedule


class RulesForm(forms.Form):
    text = forms.CharField(
        required=False,
        strip=False,
        label="spamassassin-rules.cf",
        widget=forms.Textarea(attrs={"rows": 24, "spellcheck": "false", "wrap": "off", "class": "rules-text"}),
    )


def _folder_list(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class ScheduleForm(forms.Form):
    scope = forms.ChoiceField(choices=TrainingSchedule.Scope.choices)
    target = forms.CharField(required=False, max_length=320, help_text="The domain or mailbox address; empty for all.")
    spam_folders = forms.CharField(initial=".Junk", required=False, help_text="Comma-separated, like .Junk")
    ham_folders = forms.CharField(
        initial=".Archives*, .INBOX.*", required=False, help_text="Comma-separated; cur for the inbox itself."
    )
    cron = forms.CharField(
        initial="0 2 * * *",
        max_length=100,
        validators=[validate_cron],
        help_text="Five fields: minute hour day month weekday.",
    )
    timezone = forms.CharField(
        initial="UTC", max_length=64, validators=[validate_timezone], help_text="Like Europe/Paris."
    )
    enabled = forms.BooleanField(required=False, initial=True)

    @classmethod
    def for_schedule(cls, schedule: TrainingSchedule | None, data: Any = None) -> ScheduleForm:
        if schedule is None:
            return cls(data)
        initial = {
            "scope": schedule.scope,
            "target": schedule.target,
            "spam_folders": ", ".join(schedule.spam_folders),
            "ham_folders": ", ".join(schedule.ham_folders),
            "cron": schedule.cron,
            "timezone": schedule.timezone,
            "enabled": schedule.enabled,
        }
        return cls(data, initial=initial)

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["spam_folders"] = _folder_list(data["spam_folders"])
        data["ham_folders"] = _folder_list(data["ham_folders"])
        return data
