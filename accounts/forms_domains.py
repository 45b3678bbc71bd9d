from __future__ import annotations

from django import forms

from accounts import dkim


class DkimGenerateForm(forms.Form):
    selector = forms.CharField(
        max_length=63,
        initial=dkim.DEFAULT_SELECTOR,
        help_text="The DNS label of the key: the record goes to <selector>._domainkey.<domain>.",
    )
    bits = forms.TypedChoiceField(
        label="Key size",
        choices=[(bits, f"RSA {bits} bits") for bits in dkim.KEY_SIZES],
        coerce=int,
        initial=dkim.DEFAULT_BITS,
        help_text="2048 fits every DNS provider; some cannot publish 4096-bit keys.",
    )
    force = forms.BooleanField(
        required=False, label="Replace an existing key with this selector (the TXT record must then change too)"
    )
