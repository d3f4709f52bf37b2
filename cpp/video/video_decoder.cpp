#include "cpp/video/video_decoder.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>

#include "cpp/errors.h"
#include "cpp/video/describe_stream.h"
#include "cpp/video/ffmpeg_handles.h"
#include "cpp/video/frame_index.h"
#include "cpp/video/input_limits.h"
#include "cpp/video/open_video_file.h"
#include "cpp/video/rgb_converter.h"
#include "cpp/video/video_decoder_impl.h"

namespace torchvideo {

void VideoDecoder::Impl::open() {
  fmt = openMediaFile(path);
  streamIndex = selectVideoStream(fmt.get(), path);
}

void VideoDecoder::Impl::openCodec() {
  const AVStream* stream = fmt->streams[streamIndex];
  const AVCodec* decoder = avcodec_find_decoder(stream->codecpar->codec_id);
  codec.reset(avcodec_alloc_context3(decoder));
  if (!codec) throw Error::torchvideo(codes::kVideoDecode, "cannot allocate a decoder for '" + path + "'");
  int ret = avcodec_parameters_to_context(codec.get(), stream->codecpar);
  if (ret >= 0) {
    codec->pkt_timebase = stream->time_base;
    // Frame and slice threads give bit-identical output to single-threaded decoding in FFmpeg.
    codec->thread_count = threads;
    codec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    ret = avcodec_open2(codec.get(), decoder, nullptr);
  }
  if (ret < 0) {
    throw Error::torchvideo(codes::kVideoDecode, "cannot open the " + std::string(decoder->name) + " decoder for '" +
                                                     path + "': " + ffmpeg::errorString(ret));
  }
}

// Back to the first packet. A timestamp seek is checked against the first packet's identity,
// because some demuxers (AVI without an index, odd MPEG-TS) land elsewhere or refuse; then the
// file is simply reopened, which always starts at the beginning.
void VideoDecoder::Impl::rewind() {
  avcodec_flush_buffers(codec.get());
  maybeSkipped.clear();
  av_packet_unref(packet.get());
  draining = false;
  havePending = false;
  active = false;
  minFrame = 0;
  nextFrame = 0;
  outputCount = 0;

  bool atStart = false;
  if (av_seek_frame(fmt.get(), streamIndex, index.startSeekTs, AVSEEK_FLAG_BACKWARD) >= 0) {
    while (av_read_frame(fmt.get(), packet.get()) >= 0) {
      if (packet->stream_index == streamIndex && packet->size > 0) {
        atStart = (index.firstPacketPos >= 0 && packet->pos >= 0) ? packet->pos == index.firstPacketPos
                                                                  : packet->dts == index.firstPacketDts;
        havePending = true;
        break;
      }
      av_packet_unref(packet.get());
    }
  }
  if (!atStart) {
    av_packet_unref(packet.get());
    havePending = false;
    const int previousStream = streamIndex;
    open();
    if (streamIndex != previousStream) {
      throw Error::torchvideo(codes::kVideoDecode, "'" + path + "' changed while it was being read");
    }
  }
  active = true;
}

void VideoDecoder::Impl::seekToKeyframe(int64_t slot) {
  avcodec_flush_buffers(codec.get());
  maybeSkipped.clear();
  av_packet_unref(packet.get());
  draining = false;
  havePending = false;
  if (av_seek_frame(fmt.get(), streamIndex, index.keyframeSeekTs[slot], AVSEEK_FLAG_BACKWARD) < 0) {
    rewind();
    return;
  }
  active = true;
  minFrame = index.keyframes[slot];
  nextFrame = minFrame;
}

bool VideoDecoder::Impl::canContinueTo(int64_t target) const {
  if (!active || nextFrame > target || maybeSkipped.count(target) != 0) return false;
  if (!index.byTimestamp) return true;  // counted frames: forward only, rewinds to the start
  // Worth seeking only when a keyframe lies past where we are: it skips the frames in between.
  const int64_t slot = index.keyframeSlotFor(target);
  return slot < 0 || index.keyframes[slot] <= nextFrame;
}

// The next decoded frame into `frame`; false once the stream is exhausted. Decoder errors on a
// packet are remembered and decoding goes on, as FFmpeg's decoders resynchronise on the next
// keyframe; a frame that never arrives is reported by the caller.
bool VideoDecoder::Impl::receiveFrame() {
  int errorsInARow = 0;
  for (;;) {
    int ret = avcodec_receive_frame(codec.get(), frame.get());
    if (ret == 0) {
      ++framesDecoded;
      return true;
    }
    if (ret == AVERROR_EOF) return false;
    if (ret != AVERROR(EAGAIN)) {
      lastProblem = ffmpeg::errorString(ret);
      sawDecodeErrors = true;
      if (++errorsInARow > 1000) return false;
      continue;
    }
    if (draining) return false;
    if (!havePending) {
      ret = av_read_frame(fmt.get(), packet.get());
      if (ret < 0) {
        if (ret != AVERROR_EOF) lastProblem = "reading the file failed: " + ffmpeg::errorString(ret);
        avcodec_send_packet(codec.get(), nullptr);
        draining = true;
        continue;
      }
      // An empty packet would read as "end of stream" to avcodec_send_packet. Packets flagged
      // for discarding (MP4 edit lists) are still sent: later frames may reference them, and
      // libavcodec drops their own output frames itself.
      if (packet->stream_index != streamIndex || packet->size == 0) {
        av_packet_unref(packet.get());
        continue;
      }
    }
    havePending = false;
    chooseSkipFor(packet.get());
    ret = avcodec_send_packet(codec.get(), packet.get());
    av_packet_unref(packet.get());
    if (ret < 0 && ret != AVERROR(EAGAIN)) {
      lastProblem = ffmpeg::errorString(ret);
      sawDecodeErrors = true;
    }
  }
}

int64_t VideoDecoder::Impl::frameNumberOfCurrent() {
  if (!index.byTimestamp) return outputCount++;
  const int64_t ts = frame->pts != AV_NOPTS_VALUE ? frame->pts : frame->best_effort_timestamp;
  return ts == AV_NOPTS_VALUE ? -1 : index.frameForPts(ts);
}

// Decodes forward until frame `target` has gone by, storing every wanted frame met on the way.
// Returns whether `target` was stored.
bool VideoDecoder::Impl::decodeUntil(int64_t target, const std::vector<int64_t>& wanted, std::vector<char>& filled,
                                     torch::Tensor& out) {
  const size_t targetSlot = std::lower_bound(wanted.begin(), wanted.end(), target) - wanted.begin();
  const int64_t frameBytes = static_cast<int64_t>(info.width) * info.height * 3;
  uint8_t* base = out.data_ptr<uint8_t>();
  // Frame numbers usually come out increasing, but not always: in AVI with B-frames the pts that
  // GENPTS makes up follow decode order, and the decoder hands frames out in display order, so
  // numbers arrive shuffled within the reorder depth (PyAV sorts them, and so does torchvision).
  // Past this window the target isn't coming.
  const int64_t reorderWindow = 32 + codec->has_b_frames;
  wantedNow = &wanted;
  struct Forget {
    const std::vector<int64_t>*& wanted;
    ~Forget() { wanted = nullptr; }
  } forget{wantedNow};
  while (!filled[targetSlot]) {
    if (!receiveFrame()) {
      active = false;
      return false;
    }
    if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) sawDecodeErrors = true;
    const int64_t n = frameNumberOfCurrent();
    if (n < minFrame) continue;  // unknown timestamp, or a leading picture with missing references
    nextFrame = std::max(nextFrame, n + 1);
    auto it = std::lower_bound(wanted.begin(), wanted.end(), n);
    if (it != wanted.end() && *it == n) {
      const size_t slot = it - wanted.begin();
      // What FFmpeg flags as damaged is refused rather than returned as garbage. (FFmpeg 5.1's
      // H.264 decoder conceals bitstream errors without flagging them; such frames come back as
      // concealed, exactly as PyAV returns them.)
      if (index.isDamaged(n)) {
        lastProblem = "its data is truncated or damaged in the file";
      } else if (frame->decode_error_flags != 0 || (frame->flags & AV_FRAME_FLAG_CORRUPT)) {
        lastProblem = "the decoder reported errors in it (damaged or truncated data)";
      } else if (!filled[slot]) {
        rgb.convert(frame.get(), base + slot * frameBytes, info.width, info.height);
        filled[slot] = 1;
      }
    }
    av_frame_unref(frame.get());
    if (n >= target + reorderWindow) {
      // Later frames came and this one didn't: the decoder dropped it (no picture without its
      // references, e.g. in a stream that starts mid-GOP).
      if (lastProblem.empty()) lastProblem = "the decoder produced no picture for it (missing references?)";
      break;
    }
  }
  return filled[targetSlot] != 0;
}

VideoDecoder::VideoDecoder(const std::string& path, const VideoDecoderOptions& options)
    : impl_(std::make_unique<Impl>()) {
  Impl& d = *impl_;
  d.path = path;
  if (options.threads < 0)
    throw Error::range("decoder threads must be 0 (one per core) or more, got " + std::to_string(options.threads));
  d.threads = options.threads;
  if (options.index) options.index->checkConsistent();
  requireVideoFile(path);
  d.open();
  d.packet.reset(av_packet_alloc());
  d.frame.reset(av_frame_alloc());
  if (!d.packet || !d.frame) throw Error::torchvideo(codes::kVideoDecode, "out of memory opening '" + path + "'");
  d.openCodec();

  int readError = 0;
  if (options.index) {
    d.index = *options.index;
  } else {
    d.index = buildFrameIndex(d.fmt.get(), d.streamIndex, &readError);
  }
  const AVStream* stream = d.fmt->streams[d.streamIndex];
  if (d.index.frameCount == 0) {
    std::string why = readError ? ffmpeg::errorString(readError) : "the stream holds no frames";
    throw Error::torchvideo(codes::kVideoDecode, "cannot read any video frame from '" + path + "': " + why);
  }
  d.info = describeVideoStream(d.fmt.get(), stream, d.index);
  if (d.info.width <= 0 || d.info.height <= 0) {
    throw Error::torchvideo(codes::kVideoDecode, "cannot determine the frame size of '" + path + "'");
  }
  checkFrameSize(d.info.width, d.info.height, path);
  d.skipsUnwanted = options.skipUnwanted && d.index.byTimestamp &&
                    codecSkipsNonReference(stream->codecpar->codec_id, d.fmt->iformat->name);
  // Indexing read to the end (or nothing was read past the headers); the first readFrames rewinds or seeks.
  d.active = false;
}

VideoDecoder::~VideoDecoder() = default;

const VideoInfo& VideoDecoder::info() const { return impl_->info; }

const FrameIndex& VideoDecoder::frameIndex() const { return impl_->index; }

const std::string& VideoDecoder::path() const { return impl_->path; }

DecodeStats VideoDecoder::stats() const {
  return {impl_->framesDecoded.load(), impl_->skipsUnwanted.load(), impl_->planFallbacks.load()};
}

// Decodes every frame of `wanted` (sorted, unique) into `out`, seeking to keyframes where that skips
// work. Throws kVideoDecode naming the first frame that can't be had.
void VideoDecoder::decodeWanted(const std::vector<int64_t>& wanted, std::vector<char>& filled, torch::Tensor& out) {
  Impl& d = *impl_;
  const int64_t count = d.info.frameCount;
  for (size_t k = 0; k < wanted.size(); ++k) {
    if (filled[k]) continue;
    const int64_t target = wanted[k];
    if (d.index.isDamaged(target)) {  // known before decoding anything: don't decode the file to find out
      throw Error::torchvideo(codes::kVideoDecode, "cannot decode frame " + std::to_string(target) + " of " +
                                                       std::to_string(count) + " in '" + d.path +
                                                       "': its data is truncated or damaged in the file");
    }
    d.lastProblem.clear();
    bool fromStart = false;
    if (!d.canContinueTo(target)) {
      const int64_t slot = d.index.byTimestamp ? d.index.keyframeSlotFor(target) : -1;
      if (slot < 0) {
        d.rewind();
        fromStart = true;
      } else {
        d.seekToKeyframe(slot);
      }
    }
    bool ok = d.decodeUntil(target, wanted, filled, out);
    // A keyframe that isn't a clean entry point (open GOP without recovery info, a seek that
    // overshot) shows up as a missing frame: decoding from the very start settles it.
    if (!ok && !fromStart) {
      d.rewind();
      ok = d.decodeUntil(target, wanted, filled, out);
    }
    if (!ok) {
      d.active = false;
      throw Error::torchvideo(codes::kVideoDecode,
                              "cannot decode frame " + std::to_string(target) + " of " + std::to_string(count) +
                                  " in '" + d.path +
                                  "': " + (d.lastProblem.empty() ? "the stream ends before it" : d.lastProblem));
    }
  }
}

torch::Tensor VideoDecoder::readFrames(const std::vector<int64_t>& indices) {
  Impl& d = *impl_;
  const int64_t count = d.info.frameCount;
  for (int64_t i : indices) {
    if (i < 0 || i >= count) {
      throw Error::range("frame index " + std::to_string(i) + " is out of range: '" + d.path + "' has " +
                         std::to_string(count) + " frames (valid indices 0.." + std::to_string(count - 1) + ")");
    }
  }
  std::vector<int64_t> wanted(indices);
  std::sort(wanted.begin(), wanted.end());
  wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());

  checkDecodeBytes(static_cast<int64_t>(wanted.size()), d.info.width, d.info.height, d.path);
  torch::Tensor unique = torch::empty({static_cast<int64_t>(wanted.size()), d.info.height, d.info.width, 3},
                                      torch::TensorOptions().dtype(torch::kUInt8));
  std::vector<char> filled(wanted.size(), 0);
  try {
    decodePlanned(wanted, filled, unique);
  } catch (const Error& error) {
    if (d.threads == 1 || error.code() != codes::kVideoDecode) throw;
    // With frame threads, which frame of a damaged stream comes out flagged (or missing) depends on
    // the threads' timing, so the frame an error names would vary from run to run. Decoding the same
    // frames again on one thread names the same frame every time (or, when the threads' failure was
    // only their timing, returns the frames). The file keeps the single-threaded decoder.
    d.threads = 1;
    d.openCodec();
    d.rewind();
    std::fill(filled.begin(), filled.end(), 0);
    decodePlanned(wanted, filled, unique);
  }

  const bool sortedUnique = indices.size() == wanted.size() && std::is_sorted(indices.begin(), indices.end());
  if (sortedUnique) return unique;
  std::vector<int64_t> positions(indices.size());
  for (size_t t = 0; t < indices.size(); ++t) {
    positions[t] = std::lower_bound(wanted.begin(), wanted.end(), indices[t]) - wanted.begin();
  }
  auto order = torch::from_blob(positions.data(), {static_cast<int64_t>(positions.size())}, torch::kInt64);
  return unique.index_select(0, order);
}

}  // namespace torchvideo
