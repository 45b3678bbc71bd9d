from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from backups import services
from backups.models import BackupPolicy
from dms_admin.schedules import validate_cron, validate_timezone

AGE_HELP = (
    "Optional: an age public key (age1…). Archives are then encrypted to it (.tar.gz.age) and only its secret "
    "key opens them. Make the key pair away from this server: age-keygen -o backup-key.txt prints the public "
    "key to paste here; keep backup-key.txt (its AGE-SECRET-KEY-1… line) safe and offline, since without it "
    "no archive can be restored. dms-admin never stores the secret key: you give it when you verify or restore."
)


class PolicyForm(forms.ModelForm):
    class Meta:
        model = BackupPolicy
        fields = list(services.POLICY_FIELDS)
        labels = {"age_recipient": "Encrypt to (age public key)"}
        help_texts = {
            "cron": "Five fields, like 30 3 * * * (03:30 every day).",
            "incremental": "Only what changed since the previous archive; a new full after six incrementals.",
            "keep_last": "Always keep this many of the newest.",
            "age_recipient": AGE_HELP,
        }
        widgets = {"age_recipient": forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roots = ", ".join(str(root) for root in settings.BACKUP_ROOTS)
        self.fields["destination"].help_text = (
            f"A folder inside the backup folders ({roots}, the BACKUP_ROOTS setting). "
            "Missing folders are created, readable by dms-admin's user only."
        )
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


class IdentityForm(forms.Form):
    """The age secret key of an encrypted archive, for one verify or restore; never stored."""

    identity = forms.CharField(
        label="Age secret key",
        max_length=4000,
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="The AGE-SECRET-KEY-1… line of the key file (or the whole file). Used for this job only, "
        "never stored.",
    )
