# The supported codec HATs (sourced, not run): config.txt overlay, ALSA card id, and the
# mixer settings that route a guitar-level input to the ADC and the DAC to the output with
# no analog dry path. hw/README.md has the table for humans and where each fact comes from.
# The card ids must agree with HAT_CARD_IDS in firmware/platform/cards.py (a test checks).
# shellcheck shell=sh

SUPPORTED_HATS="hifiberry-dacplusadcpro codec-zero iqaudio-codec audioinjector-stereo pisound"

is_supported_hat() {
    for known in $SUPPORTED_HATS; do
        [ "$known" = "$1" ] && return 0
    done
    return 1
}

require_supported_hat() {
    is_supported_hat "$1" || {
        printf '%s\n' "tubeless: error: unknown HAT '$1'. Supported: $SUPPORTED_HATS" >&2
        exit 2
    }
}

# $2: "pi5" on a Raspberry Pi 5 (install.sh asks the device tree), where Pisound has its own
# overlay (the kernel's overlays README: "Pi 5 specific overlay override").
hat_overlay() {
    case $1 in
        hifiberry-dacplusadcpro) echo "dtoverlay=hifiberry-dacplusadcpro" ;;
        codec-zero)              echo "dtoverlay=rpi-codeczero" ;;
        iqaudio-codec)           echo "dtoverlay=iqaudio-codec" ;;
        audioinjector-stereo)    echo "dtoverlay=audioinjector-wm8731-audio" ;;
        pisound)                 if [ "${2:-}" = pi5 ]; then echo "dtoverlay=pisound-pi5"; else echo "dtoverlay=pisound"; fi ;;
    esac
}

hat_card_id() {
    case $1 in
        hifiberry-dacplusadcpro) echo "sndrpihifiberry" ;;
        codec-zero)              echo "Zero" ;;
        iqaudio-codec)           echo "IQaudIOCODEC" ;;
        audioinjector-stereo)    echo "audioinjectorpi" ;;
        pisound)                 echo "pisound" ;;
    esac
}

# Input gain in dB that suits a buffered guitar (about -10 dBV peaks) on each board.
hat_default_gain_db() {
    case $1 in
        hifiberry-dacplusadcpro) echo 12 ;;   # PCM1863 PGA, -12..40 dB in 0.5 dB steps
        codec-zero|iqaudio-codec) echo 6 ;;   # DA7213 Mixin PGA, -4.5..18 dB in 1.5 dB steps
        audioinjector-stereo)    echo 6 ;;    # WM8731 line input, -34.5..12 dB in 1.5 dB steps
        pisound)                 echo 0 ;;    # a knob on the board, not a mixer control
    esac
}

# "Name|value" lines, applied in order with `amixer cset name='Name' value`. $1: HAT,
# $2: input gain in dB (already validated as a number).
hat_mixer_settings() {
    case $1 in
        hifiberry-dacplusadcpro)
            # Enum item names from the pcm186x / hifiberry_dacplusadcpro drivers.
            pga=$(awk -v g="$2" 'BEGIN { s = int(g * 2 + (g < 0 ? -0.5 : 0.5)) / 2;
                                         if (s < -12) s = -12; if (s > 40) s = 40;
                                         printf "%.1fdB", s }')
            cat <<EOF
ADC Mic Bias|Mic Bias off
ADC Left Input|VINL1[SE]
ADC Right Input|VINR1[SE]
PGA Gain Left|$pga
PGA Gain Right|$pga
Digital Playback Switch|on,on
Digital Playback Volume|207,207
EOF
            ;;
        codec-zero|iqaudio-codec)
            # Routing of Raspberry Pi's Codec_Zero_AUXIN_record_and_HP_playback.state,
            # with every analog input-to-output path off (no dry guitar in the output).
            pga=$(awk -v g="$2" 'BEGIN { v = int((g + 4.5) / 1.5 + 0.5);
                                         if (v < 0) v = 0; if (v > 15) v = 15; print v }')
            cat <<EOF
Mic 1 Switch|off
Mic 2 Switch|off
Aux Switch|on,on
Aux Volume|53,53
Mixin Left Aux Left Switch|on
Mixin Right Aux Right Switch|on
Mixin Left Mic 1 Switch|off
Mixin Left Mic 2 Switch|off
Mixin Right Mic 1 Switch|off
Mixin Right Mic 2 Switch|off
Mixin PGA Switch|on,on
Mixin PGA Volume|$pga,$pga
ADC Switch|on,on
ADC Volume|112,112
DAI Left Source MUX|ADC Left
DAI Right Source MUX|ADC Right
DAC Left Source MUX|DAI Input Left
DAC Right Source MUX|DAI Input Right
DAC Volume|112,112
Mixout Left DAC Left Switch|on
Mixout Right DAC Right Switch|on
Mixout Left Aux Left Switch|off
Mixout Right Aux Right Switch|off
Mixout Left Mixin Left Switch|off
Mixout Right Mixin Right Switch|off
Headphone Switch|on,on
Headphone Volume|49,49
EOF
            ;;
        audioinjector-stereo)
            # WM8731 control names from the wm8731 codec driver.
            vol=$(awk -v g="$2" 'BEGIN { v = int((g + 34.5) / 1.5 + 0.5);
                                         if (v < 0) v = 0; if (v > 31) v = 31; print v }')
            cat <<EOF
Input Mux|Line In
Line Capture Switch|on,on
Capture Volume|$vol,$vol
Mic Capture Switch|off
ADC High Pass Filter Switch|on
Output Mixer HiFi Playback Switch|on
Output Mixer Line Bypass Switch|off
Output Mixer Mic Sidetone Switch|off
Master Playback Volume|121,121
EOF
            ;;
        pisound)
            ;;  # no mixer controls: input gain and output volume are knobs on the board
    esac
}
