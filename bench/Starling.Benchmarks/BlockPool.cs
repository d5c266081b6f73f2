using System.Buffers;
using System.Collections.Concurrent;

namespace Starling.Benchmarks;

/// <summary>
/// The pipes' memory, as Kestrel provides it: fixed 4 KiB blocks kept in a pool that grows to what is in use and
/// never allocates once warm (Kestrel's pinned block pool does the same). With the default pool
/// (<see cref="ArrayPool{T}.Shared"/>, a few dozen cached arrays per size) 2,000 pipes that each hold a block miss
/// it on most rents and allocate a fresh 4 KiB array, which would count the harness's transport, not the broker.
/// </summary>
internal sealed class BlockPool : MemoryPool<byte>
{
    private const int BlockSize = 4096;
    private readonly ConcurrentQueue<Block> _free = new();

    public static BlockPool Blocks { get; } = new();

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            // Larger than a block (never asked by these pipes): a one-off array the GC takes back.
            return new Block(null, minBufferSize);
        }
        return _free.TryDequeue(out var block) ? block : new Block(this, BlockSize);
    }

    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>A block and its own owner object, both reused: a rent costs no allocation.</summary>
    private sealed class Block(BlockPool? pool, int size) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = new byte[size];

        public void Dispose() => pool?._free.Enqueue(this);
    }
}
