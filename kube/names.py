"""Name, label and selector rules, as Kubernetes' apimachinery validation defines them.
Each check returns a list of problems (empty when valid), phrased for a user."""

from __future__ import annotations

import re

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
IANA_SVC_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


def dns1123_label(value: str) -> list[str]:
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if not DNS1123_LABEL.match(value):
        return ["must consist of lower case alphanumeric characters or '-', and must start and "
                "end with an alphanumeric character (e.g. 'my-name', or '123-abc')"]
    return []


def dns1123_subdomain(value: str) -> list[str]:
    if len(value) > 253:
        return ["must be no more than 253 characters"]
    if not DNS1123_SUBDOMAIN.match(value):
        return ["must consist of lower case alphanumeric characters, '-' or '.', and must start "
                "and end with an alphanumeric character (e.g. 'example.com')"]
    return []


def dns1035_label(value: str) -> list[str]:
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if not DNS1035_LABEL.match(value):
        return ["must consist of lower case alphanumeric characters or '-', start with an "
                "alphabetic character, and end with an alphanumeric character (e.g. 'my-name')"]
    return []


def qualified_name(value: str) -> list[str]:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name."""
    prefix, slash, name = value.rpartition("/")
    problems = []
    if slash:
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems += [f"prefix part {p}" for p in dns1123_subdomain(prefix)]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > 63:
        problems.append("name part must be no more than 63 characters")
    elif not QUALIFIED_NAME.match(name):
        problems.append("name part must consist of alphanumeric characters, '-', '_' or '.', and "
                        "must start and end with an alphanumeric character")
    return problems


def label_value(value: str) -> list[str]:
    if len(value) > 63:
        return ["must be no more than 63 characters"]
    if not LABEL_VALUE.match(value):
        return ["a valid label must be an empty string or consist of alphanumeric characters, "
                "'-', '_' or '.', and must start and end with an alphanumeric character"]
    return []


def port_name(value: str) -> list[str]:
    if len(value) > 15:
        return ["must be no more than 15 characters"]
    if not IANA_SVC_NAME.match(value) or "--" in value or not re.search("[a-z]", value):
        return ["must contain only lower-case letters, digits and '-', contain at least one "
                "letter, start and end with a letter or digit, and not contain '--'"]
    return []


def env_var_name(value: str) -> list[str]:
    if not ENV_VAR_NAME.match(value):
        return ["a valid environment variable name must consist of alphabetic characters, "
                "digits, '_', '-', or '.', and must not start with a digit"]
    return []
