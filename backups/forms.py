from __future__ import annotations

from typing import Any

from django import forms

from backups import services
from backups.models import BackupPolicy
from dms_admin.forms import validate_cron, validate_timezone


class PolicyForm(forms.ModelForm):
    class Meta:
        model = BackupPolicy
        fields = list(services.POLICY_FIELDS)
        help_texts = {
            "cron": "Five fields, like 30 3 * * * (03:30 every day).",
            "incremental": "Only what changed since the previous archive; a new full after six incrementals.",
            "keep_last": "Always keep this many of the newest.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Checked here too, so a bad cron and a bad time zone show at once (the service stops at the first).
        self.fields["cron"].validators.append(validate_cron)
        self.fields["timezone"].validators.append(validate_timezone)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not any(data.get(f"include_{n}") for n in ("mail", "state", "config")):
            self.add_error("include_mail", "Include at least one of mail, state and config.")
        return data

    def values(self) -> dict[str, object]:
        return {f: self.cleaned_data[f] for f in services.POLICY_FIELDS}


class RestoreForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("all", "Everything in the archive"), ("mailbox", "One mailbox"), ("config", "The config folder")]
    )
    mailbox = forms.CharField(max_length=320, required=False, help_text="For one mailbox: its address.")
