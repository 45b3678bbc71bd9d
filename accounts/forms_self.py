"""Forms of the mail users' self-service pages. None has an address field: it is the session's."""

from __future__ import annotations

from django import forms


class MailLoginForm(forms.Form):
    address = forms.CharField(
        label="Email address",
        max_length=320,
        widget=forms.TextInput(
            attrs={"autofocus": True, "autocomplete": "username", "placeholder": "name@example.com"}
        ),
    )
    password = forms.CharField(
        max_length=1024, strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class SelfPasswordForm(forms.Form):
    old_password = forms.CharField(
        label="Current password",
        max_length=1024,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    password = forms.CharField(
        label="New password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = forms.CharField(
        label="New password again", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        if data.get("password") and data.get("password") != data.get("password2"):
            self.add_error("password2", "The two passwords differ.")
        return data
