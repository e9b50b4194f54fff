# Sourced by distill.sh and explore.sh (needs $sdists and $work): unpack an sdist into $work once (or the wheel
# STEM-py3-none-any.whl where pip cannot fetch the sdist: bidict), and remove the test paths given after its stem,
# so that every function has something left to cover.
unpack() { # sdist stem, then the test paths to remove
  local stem=$1; shift
  if [ ! -d "$work/$stem" ]; then
    if [ -f "$sdists/$stem.tar.gz" ]; then tar xzf "$sdists/$stem.tar.gz" -C "$work"
    else mkdir -p "$work/$stem" && unzip -q "$sdists/$stem-py3-none-any.whl" -d "$work/$stem"; fi
  fi
  for t in "$@"; do rm -rf "${work:?}/$stem/$t"; done
}
