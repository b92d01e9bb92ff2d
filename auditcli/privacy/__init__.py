"""Keeping log content safe to show.

detectors.py says what a secret looks like and secrets.py masks what it finds;
pseudonyms.py makes keyed tokens of personal data; policy.py reads the policy file;
apply.py is the one transform every output batch goes through (masking by default,
pseudonyms on request); case.py keeps a database's pseudonym key and maps tokens
back; text.py escapes what a terminal would act on.
"""
