# What scripts/install-controller and scripts/install-compute share: sourced, not run.
# Both take --root DIR (install under DIR: config, state, units; no user is created and the
# files stay the caller's) and --no-systemd (write the unit, start nothing).

ROOT=""
SYSTEMD=1
SERVICE_USER=stratus
BINDIR=""
declare -A EXTRA=()   # section -> extra TOML lines from --set section.key=value
UNINSTALL=0
PURGE=0

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }

# A TOML basic string: backslashes and double quotes escaped.
toml_str() {
  local value="${1//\\/\\\\}"
  printf '"%s"' "${value//\"/\\\"}"
}

# --set section.key=value: `value` is written as TOML as it is (1, true, "text", [..]).
add_setting() {
  local name="${1%%=*}" value="${1#*=}"
  [[ "$1" == *=* && "$name" == *.* ]] || die "--set takes section.key=value, not $1"
  EXTRA[${name%%.*}]+="${name#*.} = $value"$'\n'
}

# Options both scripts take; returns 1 when $1 is not one of them. Sets SHIFT to the count of
# words it used.
common_option() {
  SHIFT=1
  case "$1" in
    --root) ROOT="$(realpath -m "$2")"; SHIFT=2 ;;
    --no-systemd) SYSTEMD=0 ;;
    --user) SERVICE_USER="$2"; SHIFT=2 ;;
    --bindir) BINDIR="$2"; SHIFT=2 ;;
    --set) add_setting "$2"; SHIFT=2 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    *) return 1 ;;
  esac
}

# The lines of [section] given with --set, after the script's own.
extra_lines() { printf '%s' "${EXTRA[$1]:-}"; }

# Sections only --set names, appended whole.
extra_sections() {
  local known=" $* " section
  for section in "${!EXTRA[@]}"; do
    [[ "$known" == *" $section "* ]] && continue
    printf '\n[%s]\n%s' "$section" "${EXTRA[$section]}"
  done
}

setup_paths() {
  ETC="$ROOT/etc/stratus"
  STATE="$ROOT/var/lib/$STATE_NAME"
  CREDENTIALS="$ETC/credentials"
  UNIT_DIR="$ROOT/etc/systemd/system"
  if [[ -z "$BINDIR" ]]; then
    local found
    found="$(command -v "$MAIN_COMMAND")" || die "$MAIN_COMMAND is not installed (pip install '.[$EXTRA_NAME]'), or give --bindir"
    BINDIR="$(dirname "$found")"
  fi
  [[ -x "$BINDIR/$MAIN_COMMAND" ]] || die "$BINDIR/$MAIN_COMMAND is not executable"
  if [[ -n "$ROOT" ]]; then
    SERVICE_USER="$(id -un)"  # a root directory is the caller's: no host-wide user
  elif ((!UNINSTALL)); then
    [[ $EUID -eq 0 ]] || die "run as root (or install under --root DIR)"
  fi
}

ensure_user() {
  [[ -n "$ROOT" ]] && return
  if ! getent passwd "$SERVICE_USER" >/dev/null; then
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin --comment "Stratus services" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
  fi
}

# install_dir PATH MODE: created if missing, mode set, owned by the service user.
install_dir() {
  mkdir -p "$1"
  chmod "$2" "$1"
  [[ -n "$ROOT" ]] || chown "$SERVICE_USER:$SERVICE_USER" "$1"
}

# write_file PATH MODE < content: replaced only when the content changed (idempotent, and a
# running service never sees half a file).
write_file() {
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"
  chmod "$2" "$tmp"
  if [[ -f "$1" ]] && cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$1"
  say "wrote $1"
}

# with_credentials COMMAND...: with the credentials the unit would hand over. As the caller
# (root): only root reads the credentials' sources; own_state gives what it made to the user.
with_credentials() { CREDENTIALS_DIRECTORY="$CREDENTIALS" "$@"; }

own_state() { [[ -n "$ROOT" ]] || chown -R "$SERVICE_USER:$SERVICE_USER" "$STATE"; }

# install_unit NAME: scripts/systemd/NAME with this host's command directory; enabled and
# (re)started when systemd runs this host.
install_unit() {
  mkdir -p "$UNIT_DIR"
  sed "s#/usr/local/bin/#$BINDIR/#g" "$REPO/scripts/systemd/$1" | write_file "$UNIT_DIR/$1" 0644 || true
  if ((SYSTEMD)) && [[ -z "$ROOT" ]]; then
    systemctl daemon-reload
    systemctl enable "$1"
    systemctl restart --no-block "$1"
    say "enabled and started $1 (systemctl status $1)"
  fi
}

uninstall_unit() {
  if ((SYSTEMD)) && [[ -z "$ROOT" ]] && command -v systemctl >/dev/null; then
    systemctl disable --now "$1" 2>/dev/null || true
  fi
  rm -rf "$UNIT_DIR/$1" "$UNIT_DIR/$1.d"
  if ((SYSTEMD)) && [[ -z "$ROOT" ]] && command -v systemctl >/dev/null; then
    systemctl daemon-reload
  fi
}

purge_state() {
  ((PURGE)) || { say "kept $STATE (--purge removes it)"; return; }
  rm -rf "$STATE"
  say "removed $STATE"
  # The user goes with the last Stratus unit of this host (a controller and a node may share it).
  if [[ -z "$ROOT" ]] && getent passwd "$SERVICE_USER" >/dev/null \
    && ! compgen -G "$UNIT_DIR/stratus-*.service" >/dev/null; then
    userdel "$SERVICE_USER" && say "removed user $SERVICE_USER"
  fi
}
