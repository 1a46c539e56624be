using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Ledger.EventStore;

/// <summary>
/// Writes the canonical text of <see cref="HashChain"/> as UTF-8 straight from UTF-8 JSON, without building a document:
/// every event is canonicalised when it is appended and again by every audit, so this is on both hot paths. Object
/// members are written as they come, then put in key order in place; UTF-8 byte order is code point order, so keys
/// compare as bytes. A string that needs no escape is copied as it is (JSON cannot hold a raw control character, quote
/// or backslash); one that was escaped is unescaped and written with only the escapes JSON requires.
/// </summary>
internal sealed class CanonicalText
{
    private readonly record struct Member(int NameStart, int NameLength, int Start, int End);

    private byte[] _out = new byte[1024];
    private byte[] _names = new byte[256];
    private int _length, _namesLength;
    private readonly List<Member> _members = [];

    [ThreadStatic] private static CanonicalText? _shared;

    /// <summary>One per thread: a writer is reused so the hot paths allocate nothing but their result.</summary>
    public static CanonicalText Rent()
    {
        var writer = _shared ??= new CanonicalText();
        writer._length = 0;
        writer._namesLength = 0;
        writer._members.Clear();
        return writer;
    }

    public ReadOnlySpan<byte> Written => _out.AsSpan(0, _length);

    public void Text(string text)
    {
        Reserve(Encoding.UTF8.GetMaxByteCount(text.Length));
        _length += Encoding.UTF8.GetBytes(text, _out.AsSpan(_length));
    }

    public void Number(long value)
    {
        Reserve(20);
        value.TryFormat(_out.AsSpan(_length), out var written, provider: CultureInfo.InvariantCulture);
        _length += written;
    }

    /// <summary>An instant as the canonical text writes it (<see cref="HashChain.Time"/>).</summary>
    public void Time(DateTimeOffset at)
    {
        Reserve(32);
        at.UtcDateTime.TryFormat(_out.AsSpan(_length), out var written, HashChain.TimeFormat, CultureInfo.InvariantCulture);
        _length += written;
    }

    public void Byte(byte b)
    {
        Reserve(1);
        _out[_length++] = b;
    }

    /// <summary>A JSON document (UTF-16, as Npgsql and System.Text.Json hand it over) in canonical form.</summary>
    public void Json(string json)
    {
        var utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(json.Length));
        try
        {
            var length = Encoding.UTF8.GetBytes(json, utf8);
            var reader = new Utf8JsonReader(utf8.AsSpan(0, length));
            if (!reader.Read()) throw new JsonException("Empty JSON.");
            Value(ref reader);
            if (reader.Read()) throw new JsonException("Text after the JSON value.");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    private void Value(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                Object(ref reader);
                break;
            case JsonTokenType.StartArray:
                Byte((byte)'[');
                var first = true;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (!first) Byte((byte)',');
                    first = false;
                    Value(ref reader);
                }
                Byte((byte)']');
                break;
            case JsonTokenType.String:
                String(ref reader);
                break;
            case JsonTokenType.Number:
                Raw(reader.ValueSpan);
                break;
            case JsonTokenType.True: Raw("true"u8); break;
            case JsonTokenType.False: Raw("false"u8); break;
            case JsonTokenType.Null: Raw("null"u8); break;
            default: throw new JsonException($"Unexpected {reader.TokenType}.");
        }
    }

    private void Object(ref Utf8JsonReader reader)
    {
        var start = _length;
        var firstMember = _members.Count;
        Byte((byte)'{');
        var sorted = true;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var nameStart = _namesLength;
            Name(ref reader);
            var member = new Member(nameStart, _namesLength - nameStart, _length, 0);
            String(ref reader);
            Byte((byte)':');
            reader.Read();
            Value(ref reader);
            _members.Add(member with { End = _length });
            if (_members.Count - firstMember > 1 && Compare(_members[^2], _members[^1]) > 0) sorted = false;
        }
        if (!sorted) Reorder(start + 1, firstMember);
        else
        {
            // Members were written back to back; separate them.
            Separate(start + 1, firstMember);
        }
        Byte((byte)'}');
        _members.RemoveRange(firstMember, _members.Count - firstMember);
    }

    // Members are written without commas (their bounds are recorded); this puts them in key order with commas between.
    private void Reorder(int from, int firstMember)
    {
        var members = CollectionsMarshal.AsSpan(_members)[firstMember..];
        var copy = ArrayPool<byte>.Shared.Rent(_length - from);
        try
        {
            var region = _length - from;
            _out.AsSpan(from, region).CopyTo(copy);
            members.Sort(Compare);
            _length = from;
            for (var i = 0; i < members.Length; i++)
            {
                if (i > 0) Byte((byte)',');
                Raw(copy.AsSpan(members[i].Start - from, members[i].End - members[i].Start));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(copy);
        }
    }

    private void Separate(int from, int firstMember)
    {
        var count = _members.Count - firstMember;
        if (count < 2) return;
        // Shift each member right by the commas before it, last member first.
        Reserve(count - 1);
        for (var i = count - 1; i >= 1; i--)
        {
            var m = _members[firstMember + i];
            _out.AsSpan(m.Start, m.End - m.Start).CopyTo(_out.AsSpan(m.Start + i));
            _out[m.Start + i - 1] = (byte)',';
        }
        _length += count - 1;
    }

    private int Compare(Member a, Member b) =>
        _names.AsSpan(a.NameStart, a.NameLength).SequenceCompareTo(_names.AsSpan(b.NameStart, b.NameLength));

    // The property name, unescaped, into the names buffer (keys are compared unescaped).
    private void Name(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (_namesLength + length > _names.Length) Array.Resize(ref _names, Math.Max(_names.Length * 2, _namesLength + length));
        _namesLength += reader.ValueIsEscaped ? reader.CopyString(_names.AsSpan(_namesLength)) : Copy(reader.ValueSpan, _names.AsSpan(_namesLength));
    }

    private static int Copy(ReadOnlySpan<byte> from, Span<byte> to)
    {
        from.CopyTo(to);
        return from.Length;
    }

    private static readonly SearchValues<byte> NeedsEscape = SearchValues.Create(
        [(byte)'"', (byte)'\\', 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

    private void String(ref Utf8JsonReader reader)
    {
        Byte((byte)'"');
        if (!reader.ValueIsEscaped) Raw(reader.ValueSpan);
        else
        {
            var value = ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length);
            try
            {
                Escaped(value.AsSpan(0, reader.CopyString(value)));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(value);
            }
        }
        Byte((byte)'"');
    }

    private void Escaped(ReadOnlySpan<byte> rest)
    {
        int at;
        while ((at = rest.IndexOfAny(NeedsEscape)) >= 0)
        {
            Raw(rest[..at]);
            Raw(rest[at] switch
            {
                (byte)'"' => "\\\""u8,
                (byte)'\\' => "\\\\"u8,
                (byte)'\n' => "\\n"u8,
                (byte)'\r' => "\\r"u8,
                (byte)'\t' => "\\t"u8,
                (byte)'\b' => "\\b"u8,
                (byte)'\f' => "\\f"u8,
                var c => Encoding.ASCII.GetBytes($"\\u{c:x4}"),
            });
            rest = rest[(at + 1)..];
        }
        Raw(rest);
    }

    /// <summary>A string value (or null) as canonical JSON writes it.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Raw("null"u8);
            return;
        }
        var utf8 = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(value.Length));
        try
        {
            Byte((byte)'"');
            Escaped(utf8.AsSpan(0, Encoding.UTF8.GetBytes(value, utf8)));
            Byte((byte)'"');
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(utf8);
        }
    }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_out.AsSpan(_length));
        _length += bytes.Length;
    }

    private void Reserve(int more)
    {
        if (_length + more > _out.Length) Array.Resize(ref _out, Math.Max(_out.Length * 2, _length + more));
    }
}
