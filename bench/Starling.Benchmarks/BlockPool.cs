using System.Buffers;

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
    // A stack under a lock, not a ConcurrentQueue: the queue allocates a new segment as it cycles, the stack never
    // once it has grown to the number of blocks in use.
    private readonly Stack<Block> _free = new();
    private readonly Lock _gate = new();

    public static BlockPool Blocks { get; } = new();

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > BlockSize)
        {
            // Larger than a block (never asked by these pipes): a one-off array the GC takes back.
            return new Block(null, minBufferSize);
        }
        lock (_gate)
        {
            if (_free.TryPop(out var block))
            {
                return block;
            }
        }
        return new Block(this, BlockSize);
    }

    private void Return(Block block)
    {
        lock (_gate)
        {
            _free.Push(block);
        }
    }

    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>A block and its own owner object, both reused: a rent costs no allocation.</summary>
    private sealed class Block(BlockPool? pool, int size) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = new byte[size];

        public void Dispose() => pool?.Return(this);
    }
}
