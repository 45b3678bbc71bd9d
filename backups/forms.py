from __future__ import annotations

from django import forms

from backups import services
from backups.models import BackupPolicy


class PolicyForm(forms.ModelForm):
    class Meta:
        model = BackupPolicy
        fields = list(services.POLICY_FIELDS)
        help_texts = {
            "cron": "Five fields, like 30 3 * * * (03:30 every day).",
            "incremental": "Only what changed since the previous archive; a new full after six incrementals.",
            "keep_last": "Always keep this many of the newest.",
        }

    def values(self) -> dict[str, object]:
        return {f: self.cleaned_data[f] for f in services.POLICY_FIELDS}


class RestoreForm(forms.Form):
    scope = forms.ChoiceField(
        choices=[("all", "Everything in the archive"), ("mailbox", "One mailbox"), ("config", "The config folder")]
    )
    mailbox = forms.CharField(max_length=320, required=False, help_text="For one mailbox: its address.")
