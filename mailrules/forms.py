"""The panel's forms for a mailbox's rules; the checks are the services' own (every bad field at once)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from dms_admin.errors import FieldError
from mailrules import services, sieve
from mailrules.sieve import RulesError, Vacation


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


class VacationForm(forms.Form):
    enabled = forms.BooleanField(label=_("Send an automatic reply"), required=False)
    start = forms.DateField(label=_("From (first day)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Until (last day)"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    timezone = forms.CharField(
        label=_("Time zone of these days"),
        max_length=64,
        required=False,
        help_text=_("Like Europe/Berlin; empty: the mail server's time."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=sieve.MAX_SUBJECT, required=False)
    text = forms.CharField(
        label=_("Message"),
        max_length=sieve.MAX_TEXT,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    days = forms.IntegerField(
        label=_("Answer each sender at most once every (days)"), min_value=1, max_value=sieve.MAX_DAYS, initial=7
    )
    addresses = forms.CharField(
        label=_("Also answer mail sent to"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One address a line; empty: this mailbox's aliases. Lists, bulk mail and spam are never answered."),
    )

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"].strip()
        if name:
            try:
                sieve.validate_timezone(name)
            except RulesError as error:
                raise forms.ValidationError(str(error)) from None
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("enabled") and not (data.get("text") or "").strip():
            self.add_error("text", _("A vacation reply needs a message."))
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            self.add_error("end", _("The vacation ends before it starts."))
        return data

    def vacation(self) -> Vacation:
        data = self.cleaned_data
        return Vacation(
            enabled=data["enabled"],
            start=data["start"],
            end=data["end"],
            timezone=data["timezone"],
            subject=data["subject"],
            text=data["text"],
            days=data["days"],
            addresses=tuple(_lines(data["addresses"])),
        )

    @classmethod
    def initial_of(cls, v: Vacation) -> dict[str, Any]:
        fields = ("enabled", "start", "end", "timezone", "subject", "text", "days")
        return {**{f: getattr(v, f) for f in fields}, "addresses": "\n".join(v.addresses)}


class ForwardingForm(forms.Form):
    targets = forms.CharField(
        label=_("Forward to"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "name@example.org"}),
        help_text=_("One address a line; empty: no forwarding."),
    )
    keep_copy = forms.BooleanField(label=_("Keep a copy in this mailbox"), required=False, initial=True)

    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    def clean_targets(self) -> list[str]:
        targets = _lines(self.cleaned_data["targets"])
        try:
            return list(services.clean_forward_targets(self.address, targets))
        except FieldError as error:
            raise forms.ValidationError(error.message) from None


class FilterForm(forms.Form):
    """One filter row; a row left empty is no filter."""

    field = forms.ChoiceField(
        label=_("If"),
        choices=[("subject", _("Subject")), ("from", _("From")), ("to", _("To")), ("header", _("Header named…"))],
    )
    header = forms.CharField(label=_("Header name"), max_length=64, required=False)
    match = forms.ChoiceField(
        label=_("Test"), choices=[("contains", _("contains")), ("is", _("is")), ("matches", _("matches (* ?)"))]
    )
    value = forms.CharField(label=_("Text"), max_length=sieve.MAX_VALUE, required=False)
    action = forms.ChoiceField(
        label=_("Then"),
        choices=[
            ("fileinto", _("move to folder")),
            ("seen", _("mark as read")),
            ("discard", _("delete")),
            ("redirect", _("forward a copy to")),
        ],
    )
    argument = forms.CharField(label=_("Folder or address"), max_length=sieve.MAX_VALUE, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or not data.get("value"):
            return data
        try:
            sieve.validate_filter(self.filter())
        except RulesError as error:
            raise forms.ValidationError(str(error).removeprefix("Filter 1: ")) from None
        return data

    def filter(self) -> sieve.Filter:
        data = self.cleaned_data
        keys = ("field", "match", "value", "action", "argument", "header")
        return sieve.Filter(**{k: (data.get(k) or "").strip() for k in keys})


FilterFormSet = forms.formset_factory(FilterForm, extra=1, max_num=sieve.MAX_FILTERS, validate_max=True)


def filters_of(formset: Any) -> list[sieve.Filter]:
    return [form.filter() for form in formset if form.cleaned_data.get("value")]


class PolicyForm(forms.Form):
    policy = forms.ChoiceField(
        label=_("Mail users of this domain may forward their mail"),
        choices=[
            ("any", _("to any address")),
            ("internal", _("only to this server's domains")),
            ("off", _("not at all")),
        ],
        help_text=_("On their own page (/me/rules/). Admins can still set a forward here."),
    )


class ScriptForm(forms.Form):
    text = forms.CharField(
        label=_("Sieve script"),
        required=False,
        strip=False,
        max_length=services.MAX_SCRIPT,
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "code"}),
        help_text=_("The whole script Dovecot runs, checked by the mail server's sievec before it is saved."),
    )
