#!/bin/sh
# Extract every marked text into core/locale/messages.pot, merge it into each language's
# messages.po (new texts arrive untranslated, never fuzzy-guessed), and compile the .mo
# files the code loads. Translate the empty entries, then run it again (docs/I18N.md).
set -eu
cd "$(dirname "$0")/.."
BABEL=.venv/bin/pybabel
LOCALES=core/locale
"$BABEL" extract -F babel.cfg -k say -k N_ --no-location --sort-output \
  --project=Hearth --copyright-holder="Hearth contributors" \
  -o "$LOCALES/messages.pot" .
for lang in pl ur; do
  "$BABEL" update -i "$LOCALES/messages.pot" -d "$LOCALES" -l "$lang" \
    --init-missing --no-fuzzy-matching --ignore-obsolete
done
"$BABEL" compile -d "$LOCALES" --statistics
