from __future__ import annotations

from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=254, widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"})
    )
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))
