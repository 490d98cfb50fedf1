"""
Finding payment card numbers and IBANs in text, with their check digits.

A regular expression alone flags every long number; these finders take the
candidates a cheap pattern yields and keep only those whose structure is
right: a card number of a length its issuer uses, with a valid Luhn check
digit; an IBAN of its country's length whose mod-97 check is 1.
"""

import re

# Runs of digits, spaces and dashes: cheap to find (no backtracking); the
# groups inside a run are then tried as card numbers.
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_GROUPS = re.compile(r"[ -]")

# (prefixes, lengths) per card scheme: Visa, Mastercard, American Express,
# Discover, JCB, Diners Club, UnionPay, Maestro.
_SCHEMES = (
    (("4",), (13, 16, 19)),
    (tuple(str(p) for p in range(51, 56)) + tuple(str(p) for p in range(2221, 2721)), (16,)),
    (("34", "37"), (15,)),
    (("6011", "65") + tuple(str(p) for p in range(644, 650)), (16, 19)),
    (tuple(str(p) for p in range(3528, 3590)), (16, 19)),
    (("300", "301", "302", "303", "304", "305", "36", "38"), (14, 16)),
    (("62",), (16, 17, 18, 19)),
    (("50", "56", "57", "58", "6304", "6759", "6761", "6762", "6763"), (12, 13, 14, 15, 16, 17, 18, 19)),
)

# IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

_IBAN_CANDIDATE = re.compile(r"[A-Z]{2}[0-9]{2}[ A-Z0-9]{10,40}")


def luhn_valid(digits):
    """The Luhn (mod 10) check over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i % 2:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def _prefix_table():
    table = {}
    for prefixes, lengths in _SCHEMES:
        for prefix in prefixes:
            table.setdefault(prefix, set()).update(lengths)
    return table


_PREFIX_LENGTHS = _prefix_table()


def is_card_number(digits):
    """A scheme's prefix and length, then the Luhn check (the cheap tests first)."""
    for n in (1, 2, 3, 4):
        lengths = _PREFIX_LENGTHS.get(digits[:n])
        if lengths is not None and len(digits) in lengths:
            return luhn_valid(digits)
    return False


def find_card_numbers(text):
    """
    The card numbers in C{text}, digits only, in order of appearance.  A
    number is a run of digit groups separated by single spaces or dashes;
    a longer run (a card number followed by a year, say) is tried from each
    group on for the longest card number it starts.
    """
    found = []
    for match in _DIGIT_RUN.finditer(text):
        run = match.group()
        digits = run.replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and is_card_number(digits):
            found.append(digits)
            continue
        groups = [g for g in _GROUPS.split(run) if g]
        start = 0
        while start < len(groups):
            best, candidate = None, ""
            if groups[start][0] in "23456":
                for end in range(start, len(groups)):
                    candidate += groups[end]
                    if len(candidate) > 19:
                        break
                    if len(candidate) >= 13 and is_card_number(candidate):
                        best = (candidate, end)
            if best is None:
                start += 1
            else:
                found.append(best[0])
                start = best[1] + 1
    return found


def iban_valid(iban):
    """Country length and the ISO 7064 mod-97 check of an IBAN without spaces."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def find_ibans(text):
    """The valid IBANs in C{text} (printed or electronic form), without spaces."""
    found = []
    for match in _IBAN_CANDIDATE.finditer(text):
        start = match.start()
        if start and text[start - 1].isalnum():
            continue
        candidate = match.group().replace(" ", "")
        # A printed IBAN may be followed by more capitals and digits after a
        # space; take the country's length, which must end at a word end.
        length = IBAN_LENGTHS.get(candidate[:2])
        if length and len(candidate) >= length and iban_valid(candidate[:length]):
            end = _end_of(text, start, length)
            if end >= len(text) or not text[end].isalnum():
                found.append(candidate[:length])
    return found


def _end_of(text, start, length):
    """The index just after the C{length}-th non-space character from C{start}."""
    i = start
    while length:
        if text[i] != " ":
            length -= 1
        i += 1
    return i
