"""Checks that every key of a Helm values file is one the chart reads: each key path must exist
in the chart's default values.yaml. Below a default that is an empty map ({}: `merge`, `env`,
`resources`, `topologySpreadConstraints`, …) or a list, the chart takes what it is given, so
nothing further is checked there.

Why: without helm (none on the machines that run deploy/check.sh) a misspelt key such as
`jetStream:` is silently ignored by the chart and the cluster comes up without what it meant.

    python check-helm-values.py CHART_DEFAULT_VALUES.yaml VALUES.yaml
"""

import sys

import yaml


def unknown_keys(ours, defaults, path=""):
    found = []
    for key, value in ours.items():
        where = f"{path}.{key}" if path else str(key)
        if not isinstance(defaults, dict) or key not in defaults:
            found.append(where)
            continue
        default = defaults[key]
        free_form = default == {} or isinstance(default, list)
        if isinstance(value, dict) and not free_form:
            if default is not None and not isinstance(default, dict):
                found.append(f"{where} (the chart expects a {type(default).__name__})")
                continue
            found += unknown_keys(value, default or {}, where)
    return found


def main():
    defaults_path, values_path = sys.argv[1], sys.argv[2]
    with open(defaults_path) as f:
        defaults = yaml.safe_load(f)
    with open(values_path) as f:
        ours = yaml.safe_load(f)
    bad = unknown_keys(ours, defaults)
    for key in bad:
        print(f"{values_path}: {key}: not a key of the chart's values ({defaults_path})", file=sys.stderr)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
