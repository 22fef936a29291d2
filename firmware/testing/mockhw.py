"""Mock hardware for `tubeless simulate` and the tests: gpiozero's MockFactory plus an
MCP3008 on the mock SPI pins (gpiozero ships no ADC simulator)."""
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockSPIDevice

# SPI0 on the Pi header (BCM): SCLK 11, MOSI 10, MISO 9, CE0 8, CE1 7
SPI_PINS = {0: (11, 10, 9), 1: (21, 20, 19)}
CE_PINS = {(0, 0): 8, (0, 1): 7, (1, 0): 18, (1, 1): 17, (1, 2): 16}


class MockMCP3008(MockSPIDevice):
    """The slave side of an MCP3008: start bit, single/diff bit, 3 channel bits, then a
    sample clock, a null bit and the 10-bit code MSB first. `set(channel, value)` with value in 0..1."""

    def __init__(self, port=0, device=0, bits=10, channels=8):
        clock, mosi, miso = SPI_PINS[port]
        super().__init__(clock, mosi, miso, CE_PINS[(port, device)])
        self.bits = bits
        self.values = [0.0] * channels
        self.state = "idle"

    def set(self, channel, value):
        self.values[channel] = min(1.0, max(0.0, float(value)))

    def on_start(self):
        super().on_start()
        self.state = "idle"

    def on_bit(self):
        if self.state == "idle":
            if self.rx_buf[-1]:
                self.state = "mode"
                self.rx_buf = []
        elif self.state == "mode":
            self.state = "single" if self.rx_buf[-1] else "diff"
            self.rx_buf = []
        elif self.state in ("single", "diff"):
            if len(self.rx_buf) == 3:
                ch = self.rx_word()
                v = self.values[ch] if self.state == "single" else max(0.0, self.values[ch] - self.values[ch ^ 1])
                code = int(round(v * ((1 << self.bits) - 1)))
                self.tx_word(code, self.bits + 2)   # sample + null bit, then the code
                self.state = "result"
        elif self.state == "result":
            if not self.tx_buf:
                self.state = "idle"
                self.rx_buf = []


def use_mock_pins():
    """Install gpiozero's mock pin factory (idempotent); returns it."""
    if not isinstance(Device.pin_factory, MockFactory):
        Device.pin_factory = MockFactory()
    return Device.pin_factory
