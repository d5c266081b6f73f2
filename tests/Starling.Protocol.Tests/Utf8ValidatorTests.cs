using static Starling.Protocol.Tests.TestUtil;

namespace Starling.Protocol.Tests;

public class Utf8ValidatorTests
{
    [Theory]
    [InlineData("", true)]
    [InlineData("61 62 63", true)]
    [InlineData("C3 A4", true)] // ä
    [InlineData("E2 82 AC", true)] // €
    [InlineData("F0 9F 98 80", true)] // U+1F600
    [InlineData("F4 8F BF BF", true)] // U+10FFFF
    [InlineData("EF BB BF 61", true)] // BOM stays [MQTT-1.5.3-3]
    [InlineData("01 1F 7F", true)] // control characters: SHOULD NOT only
    [InlineData("C2 80", true)] // U+0080 control
    [InlineData("EF BF BF", true)] // U+FFFF non-character: allowed
    [InlineData("00", false)] // U+0000 [MQTT-1.5.3-2]
    [InlineData("61 00 62", false)]
    [InlineData("ED A0 80", false)] // U+D800 [MQTT-1.5.3-1]
    [InlineData("ED BF BF", false)] // U+DFFF
    [InlineData("ED A0 BD ED B8 80", false)] // CESU-8 surrogate pair
    [InlineData("C0 80", false)] // overlong U+0000
    [InlineData("C1 BF", false)] // overlong
    [InlineData("E0 80 AF", false)] // overlong
    [InlineData("F0 80 80 AF", false)] // overlong
    [InlineData("F4 90 80 80", false)] // above U+10FFFF
    [InlineData("F5 80 80 80", false)]
    [InlineData("FF", false)]
    [InlineData("80", false)] // lone continuation
    [InlineData("C3", false)] // truncated
    [InlineData("E2 82", false)]
    [InlineData("C3 28", false)]
    public void Bytes_1_5_3(string hex, bool valid) => Assert.Equal(valid, Utf8Validator.IsValid(Hex(hex)));

    // Built from char codes: xunit's serialization would replace lone surrogates in InlineData strings.
    [Theory]
    [InlineData(true, 0x61, 0x62)]
    [InlineData(true, 0xD83D, 0xDE00)] // a proper pair
    [InlineData(false, 0x61, 0x00)]
    [InlineData(false, 0xD83D)] // lone high surrogate
    [InlineData(false, 0xD83D, 0x61)]
    [InlineData(false, 0xDE00, 0x61)] // lone low surrogate
    [InlineData(false, 0xDE00, 0xD83D)] // reversed pair
    public void Strings(bool valid, params int[] chars)
        => Assert.Equal(valid, Utf8Validator.IsValid(new string(chars.Select(c => (char)c).ToArray())));
}
