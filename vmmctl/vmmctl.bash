# vmmctl.bash: bash completion for vmmctl(8).  Installed as
# share/bash-completion/completions/vmmctl, where bash-completion loads it
# on the first <Tab> after "vmmctl"; or source it.
#
# The commands and their options come from vmmctl itself ("vmmctl help
# --commands", generated from its command table), so that this file never
# falls behind; VM names from the daemon ("vmmctl -q list") when it can be
# reached, with the --connect of the command line.
#
# shellcheck shell=bash

# The table, once per shell (and again when vmmctl is another binary).
_vmmctl_table()
{
	local bin
	bin=$(type -P "$1" 2> /dev/null)
	if [[ -z ${_vmmctl_cache-} || ${_vmmctl_cache_bin-} != "$bin" ]]; then
		_vmmctl_cache=$("$1" help --commands 2> /dev/null)
		_vmmctl_cache_bin=$bin
	fi
	printf '%s\n' "$_vmmctl_cache"
}

# Complete cur from the words given (an option's "=VALUE" removed).
_vmmctl_reply()
{
	local cur=$1 w words=""
	shift
	# shellcheck disable=SC2048 # split on purpose: words, lines
	for w in $*; do
		words+=" ${w%%=*}"
	done
	mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
}

_vmmctl()
{
	local cur prev ctl table line cmd="" arg="" opt w i n
	local -a cw=() connect=() globals=() words=() opts=()
	local have_arg=0 have_all=0

	# The words up to the cursor, split at blanks only: bash splits
	# COMP_WORDS at "=" and ":" too (--connect=unix:/x).
	line=${COMP_LINE:0:COMP_POINT}
	read -r -a cw <<< "$line"
	[[ -z $line || $line == *[[:space:]] ]] && cw+=("")
	n=${#cw[@]}
	ctl=${cw[0]} cur=${cw[n - 1]} prev=${cw[n - 2]-}
	# --state=r: the value, which is bash's current word.
	if [[ $cur == --*=* ]]; then
		prev=${cur%%=*} cur=${cur#*=}
	fi

	table=$(_vmmctl_table "$ctl")
	[[ -n $table ]] || return 0
	read -r -a globals <<< "$(sed -n 's/^vmmctl - //p' <<< "$table")"

	# The command: the first word that is neither an option nor a value.
	for ((i = 1; i < n - 1; i++)); do
		w=${cw[i]}
		if [[ -z $cmd ]]; then
			case $w in
			--connect)
				connect=(--connect "${cw[i + 1]-}")
				((i++)) ;;
			--connect=*) connect=("$w") ;;
			--cert | --key | --ca | --config) ((i++)) ;;
			-*) ;;
			*) cmd=$w ;;
			esac
			continue
		fi
		words+=("$w")
	done

	# A value of a global option.
	case $prev in
	--cert | --key | --ca | --config)
		[[ -z $cmd ]] && mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return 0 ;;
	--connect)
		[[ -z $cmd ]] && return 0 ;;
	esac
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_vmmctl_reply "$cur" "${globals[@]}"
		else
			_vmmctl_reply "$cur" "$(cut -d' ' -f1 <<< "$table" |
			    grep -v '^vmmctl$')"
		fi
		return 0
	fi
	if [[ $cmd == help ]]; then
		((${#words[@]} == 0)) && _vmmctl_reply "$cur" "$(cut -d' ' \
		    -f1 <<< "$table" | grep -v -e '^vmmctl$' -e '^help$')"
		return 0
	fi
	line=$(grep "^$cmd " <<< "$table") || return 0
	read -r cmd arg line <<< "$line"
	read -r -a opts <<< "$line"

	# The value of the command's option before the cursor.
	for opt in "${opts[@]}"; do
		[[ $opt == "$prev="* ]] || continue
		case $prev in
		--state)
			_vmmctl_reply "$cur" defined starting running paused \
			    stopping stopped crashed ;;
		esac
		return 0
	done
	for w in "${words[@]}"; do
		case $w in
		--all) have_all=1 ;;
		-*) ;;
		*) have_arg=1 ;;
		esac
	done
	if [[ $cur == -* ]]; then
		_vmmctl_reply "$cur" "${opts[@]}" --help
	elif ((have_arg == 0 && have_all == 0)); then
		case $arg in
		NAME)
			_vmmctl_reply "$cur" "$("$ctl" "${connect[@]}" -q list \
			    2> /dev/null)" ;;
		FILE)
			mapfile -t COMPREPLY < <(compgen -f -- "$cur") ;;
		esac
	fi
	return 0
}

complete -F _vmmctl vmmctl
