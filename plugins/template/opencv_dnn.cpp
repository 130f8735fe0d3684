/*
 * opencv_dnn: the second template, in C++: a vigia backend that runs a
 * darknet (cfg + weights) or ONNX network with OpenCV's cv::dnn. The ABI is
 * C; C++ speaks it through extern "C" (the header wraps itself), a static
 * operations table and an entry point that lets no exception cross it.
 *
 * Build (against the installed header and OpenCV's dnn, imgcodecs, imgproc):
 *     c++ -std=c++17 -O2 -shared -fPIC -fvisibility=hidden $(pkg-config --cflags vigia-backend) \
 *         -I/usr/include/opencv4 opencv_dnn.cpp -o vigia-backend-opencv.so \
 *         -lopencv_dnn -lopencv_imgcodecs -lopencv_imgproc -lopencv_core
 * or `make opencv` with the Makefile beside this file. Check it on a real
 * image with a label it must find:
 *     vigia-plugin-check --image dog.jpg --expect dog ./vigia-backend-opencv.so MODEL_DIR
 *
 * The manifest: `cfg` and `weights` (darknet), or `weights` alone ending in
 * .onnx; `names` (the labels; this backend supplies none). Its own section,
 * [opencv] (declared in opencv_keys, so the host refuses a typo there):
 *     input = u8 | encoded     u8 (default): the host decodes and resizes the
 *                              image as the cfg says and hands over 8-bit
 *                              interleaved BGR, OpenCV's own order;
 *                              encoded: the file's bytes, decoded here with
 *                              cv::imdecode and stretched to the input size
 *
 * Output: raw candidates for the host's NMS. A darknet [yolo] layer in
 * OpenCV gives one row per anchor and cell: centre x, centre y, width,
 * height as fractions of the network input, objectness, then per class
 * objectness * P(class) (OpenCV zeroes those below the cfg's thresh), the
 * layout vigia_candidates wants. An ONNX network must give the same rows.
 */
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include <vigia/backend.h>

namespace {

const char *const opencv_keys[] = { "input", nullptr };
const char *const input_kinds[] = { "u8", "encoded", nullptr };

struct row_ref {
    const float *row;              // 4 box values, objectness, then classes
    float objectness;
};

}  // namespace

struct vigia_model {
    cv::dnn::Net net;
    std::vector<std::string> out_names;
    int w = 0, h = 0, classes = 0;
    bool encoded = false;
    std::string device;
};

namespace {

int
fail(char *err, size_t errlen, int code, const char *what)
{
    std::snprintf(err, errlen, "%s", what);
    return code;
}


bool
ends_with(const std::string &s, const char *tail)
{
    size_t n = std::strlen(tail);
    return s.size() >= n && s.compare(s.size() - n, n, tail) == 0;
}


/*
 * Bytes a darknet weights file must hold for the network OpenCV built from
 * it: the header (major, minor, revision as int32, then `seen`: int64 from
 * version 0.2 on, int32 before) and a float per parameter of each
 * convolution and batch norm, which is what the file stores (biases or the
 * four batch norm vectors, then the kernels). OpenCV reads a short file
 * without complaint, filling the rest with whatever it holds: check first.
 * 0 when the header cannot be read.
 */
uint64_t
darknet_bytes(cv::dnn::Net &net, const std::string &weights)
{
    std::ifstream f(weights, std::ios::binary);
    int32_t ver[3];
    if (!f.read(reinterpret_cast<char *>(ver), sizeof ver))
        return 0;
    uint64_t bytes = sizeof ver + (ver[0] * 10 + ver[1] >= 2 ? 8 : 4);
    for (const std::string &name : net.getLayerNames()) {
        cv::Ptr<cv::dnn::Layer> l = net.getLayer(net.getLayerId(name));
        if (l->type != "Convolution" && l->type != "BatchNorm")
            continue;
        for (const cv::Mat &b : l->blobs)
            bytes += b.total() * sizeof(float);
    }
    return bytes;
}


int
be_open(const vigia_host *host, const vigia_manifest *man, vigia_model **out, char *err, size_t errlen)
{
    *out = nullptr;
    if (VIGIA_ABI_MAJOR(host->abi_version) != VIGIA_BACKEND_ABI_MAJOR)
        return fail(err, errlen, VIGIA_ENOTSUP, "a host of another ABI major");
    const char *input = nullptr;
    int rc = man->get_string(man, "opencv.input", input_kinds, "u8", &input, err, errlen);
    if (rc != 0)
        return rc;
    if (!man->weights_path)
        return fail(err, errlen, VIGIA_EINVAL, "the manifest names no weights");
    std::string weights = man->weights_path;
    bool onnx = ends_with(weights, ".onnx");
    if (!onnx && !man->cfg_path)
        return fail(err, errlen, VIGIA_EINVAL, "darknet weights need a cfg (or give a .onnx file)");
    try {
        auto *m = new vigia_model;
        m->net = onnx ? cv::dnn::readNetFromONNX(weights) : cv::dnn::readNetFromDarknet(man->cfg_path, weights);
        if (m->net.empty()) {
            delete m;
            return fail(err, errlen, VIGIA_EINVAL, "OpenCV read no network from the model files");
        }
        uint64_t need = onnx ? 0 : darknet_bytes(m->net, weights);
        std::ifstream wf(weights, std::ios::binary | std::ios::ate);
        if (!onnx && (need == 0 || (uint64_t)wf.tellg() < need)) {
            std::snprintf(err, errlen, "%s: %lld bytes, the cfg needs %llu: truncated or not this cfg's weights",
                          man->weights_path, (long long)wf.tellg(), (unsigned long long)need);
            delete m;
            return VIGIA_EINVAL;
        }
        m->net.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        m->net.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        cv::setNumThreads(man->threads);
        m->out_names = m->net.getUnconnectedOutLayersNames();
        m->encoded = std::strcmp(input, "encoded") == 0;
        // the input size: the manifest's, else the cfg's [net] (OpenCV keeps it as the input shape)
        m->w = man->input_w;
        m->h = man->input_h;
        if (m->w <= 0 || m->h <= 0) {
            std::vector<cv::dnn::MatShape> in_shapes, out_shapes;
            m->net.getLayerShapes(cv::dnn::MatShape(), 0, in_shapes, out_shapes);
            if (!in_shapes.empty() && in_shapes[0].size() == 4) {
                m->h = in_shapes[0][2];
                m->w = in_shapes[0][3];
            }
        }
        if (m->w <= 0 || m->h <= 0) {
            delete m;
            return fail(err, errlen, VIGIA_EINVAL, "no input size: set width and height in the manifest");
        }
        // one forward pass on grey gives the class count (columns past the box and objectness)
        cv::Mat grey(m->h, m->w, CV_8UC3, cv::Scalar(128, 128, 128));
        m->net.setInput(cv::dnn::blobFromImage(grey, 1 / 255.0, cv::Size(), cv::Scalar(), true, false));
        std::vector<cv::Mat> outs;
        m->net.forward(outs, m->out_names);
        if (outs.empty() || outs[0].dims != 2 || outs[0].cols < 6) {
            delete m;
            return fail(err, errlen, VIGIA_ENOTSUP, "the network's outputs are not rows of box, objectness, classes");
        }
        m->classes = outs[0].cols - 5;
        m->device = std::string("cpu opencv ") + CV_VERSION;
        *out = m;
        return 0;
    } catch (const cv::Exception &e) {
        std::snprintf(err, errlen, "opencv: %s", e.what());
        return VIGIA_EINVAL;
    } catch (const std::bad_alloc &) {
        return fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
}


int
be_describe(vigia_model *m, vigia_model_info *info, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    info->task = VIGIA_TASK_DETECT;
    info->output = VIGIA_OUTPUT_CANDIDATES;
    info->input_w = m->w;
    info->input_h = m->h;
    info->input_c = 3;
    info->classes = m->classes;
    info->max_batch = 1;
    info->device = m->device.c_str();
    if (m->encoded) {
        info->input.dtype = VIGIA_DTYPE_ENCODED;
    } else {
        info->input.dtype = VIGIA_DTYPE_U8;
        info->input.layout = VIGIA_LAYOUT_NHWC;
        info->input.channels = VIGIA_CHANNELS_BGR;
    }
    return 0;
}


/* The network's input for one image: the host's BGR tensor, or the decoded file stretched. */
cv::Mat
blob_of(const vigia_model *m, const vigia_image &im)
{
    if (!m->encoded) {
        cv::Mat bgr(m->h, m->w, CV_8UC3, const_cast<void *>(im.data));
        return cv::dnn::blobFromImage(bgr, 1 / 255.0, cv::Size(), cv::Scalar(), true, false);
    }
    cv::Mat bytes(1, (int)im.len, CV_8UC1, const_cast<void *>(im.data));
    cv::Mat img = cv::imdecode(bytes, cv::IMREAD_COLOR);
    if (img.empty())
        return img;
    return cv::dnn::blobFromImage(img, 1 / 255.0, cv::Size(m->w, m->h), cv::Scalar(), true, false);
}


/* Fills one answer: the rows with a class at or above the threshold, the most objectness first when cut. */
void
fill(const vigia_model *m, const std::vector<cv::Mat> &outs, float threshold, vigia_candidates *o)
{
    std::vector<row_ref> rows;
    for (const cv::Mat &t : outs)
        for (int r = 0; r < t.rows; r++) {
            const float *row = t.ptr<float>(r);
            float best = *std::max_element(row + 5, row + 5 + m->classes);
            if (best > 0 && best >= threshold)
                rows.push_back({ row, row[4] });
        }
    if (rows.size() > o->capacity) {
        std::partial_sort(rows.begin(), rows.begin() + o->capacity, rows.end(),
                          [](const row_ref &a, const row_ref &b) { return a.objectness > b.objectness; });
        rows.resize(o->capacity);
        o->truncated = 1;
    }
    for (size_t i = 0; i < rows.size(); i++) {
        std::memcpy(o->box + 4 * i, rows[i].row, 4 * sizeof(float));
        o->objectness[i] = rows[i].objectness;
        for (int c = 0; c < m->classes; c++) {
            float p = rows[i].row[5 + c];
            o->prob[(size_t)m->classes * i + c] = p >= threshold ? p : 0;
        }
    }
    o->count = (uint32_t)rows.size();
}


int
be_infer(vigia_model *m, const vigia_batch *batch, vigia_candidates *out, char *err, size_t errlen)
{
    if (batch->count != 1)
        return fail(err, errlen, VIGIA_ENOTSUP, "batch size 1 only");
    try {
        cv::Mat blob = blob_of(m, batch->images[0]);
        if (blob.empty()) {
            out[0].status = VIGIA_EINVAL;
            std::snprintf(out[0].err, out[0].errlen, "opencv cannot decode this image");
            return 0;
        }
        m->net.setInput(blob);
        std::vector<cv::Mat> outs;
        m->net.forward(outs, m->out_names);
        fill(m, outs, batch->threshold, &out[0]);
        return 0;
    } catch (const cv::Exception &e) {
        std::snprintf(err, errlen, "opencv: %s", e.what());
        return VIGIA_EBACKEND;
    } catch (const std::bad_alloc &) {
        return fail(err, errlen, VIGIA_EAGAIN, "out of memory for now");
    }
}


void
be_close(vigia_model *m)
{
    delete m;
}


const vigia_backend opencv_table = [] {
    vigia_backend t{};
    t.abi_version = VIGIA_BACKEND_ABI_VERSION;
    t.struct_size = sizeof(vigia_backend);
    t.name = "opencv";
    t.version = "1";
    t.open = be_open;
    t.describe = be_describe;
    t.infer = be_infer;
    t.close = be_close;
    t.keys = opencv_keys;
    return t;
}();

}  // namespace

extern "C" VIGIA_EXPORT const vigia_backend *
vigia_backend_entry(void)
{
    return &opencv_table;
}
