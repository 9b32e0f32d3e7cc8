//! Content types for downloads, as the official `_guess_mime_type`: MLflow's text
//! extensions are `text/plain`, then Python's `mimetypes` table, else
//! `application/octet-stream`.

const TEXT_EXTENSIONS: &[&str] = &[
    "txt",
    "log",
    "err",
    "cfg",
    "conf",
    "cnf",
    "cf",
    "ini",
    "properties",
    "prop",
    "hocon",
    "toml",
    "yaml",
    "yml",
    "xml",
    "json",
    "js",
    "py",
    "py3",
    "csv",
    "tsv",
    "md",
    "rst",
    "ipynb",
    "MLmodel",
    "MLproject",
];

/// Python's `mimetypes.types_map` for the types artifacts commonly have.
fn by_extension(ext: &str) -> Option<&'static str> {
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/vnd.microsoft.icon",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "mjs" => "text/javascript",
        "sh" => "text/x-sh",
        "c" => "text/x-csrc",
        "h" => "text/x-chdr",
        "cpp" => "text/x-c++src",
        "java" => "text/x-java",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "tar" | "tgz" => "application/x-tar",
        "jar" => "application/java-archive",
        "wasm" => "application/wasm",
        "zst" => "application/zstd",
        "h5" => "application/x-hdf5",
        "bin" => "application/octet-stream",
        "rtf" => "application/rtf",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/x-wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        _ => return None,
    })
}

/// Compression suffixes Python strips before guessing (`x.gz` alone has no type).
const ENCODINGS: &[&str] = &["gz", "bz2", "xz", "Z", "br"];

/// The content type the official server sends for a file called `file_name`.
pub fn guess(file_name: &str) -> &'static str {
    let name = file_name.rsplit('/').next().unwrap_or(file_name);
    // os.path.splitext: a leading dot does not start an extension.
    let ext = match name.rfind('.') {
        Some(i) if name[..i].chars().any(|c| c != '.') => &name[i + 1..],
        _ => "",
    };
    let ext = if ext.is_empty() { name } else { ext };
    if TEXT_EXTENSIONS.contains(&ext) {
        return "text/plain";
    }
    let mut stem = name;
    if let Some((head, enc)) = stem.rsplit_once('.')
        && ENCODINGS.contains(&enc)
    {
        stem = head;
        if !stem.contains('.') {
            return "application/octet-stream";
        }
    }
    stem.rsplit_once('.')
        .and_then(|(_, e)| by_extension(e))
        .unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::guess;

    #[test]
    fn official_types() {
        assert_eq!(guess("a.png"), "image/png");
        assert_eq!(guess("a.json"), "text/plain");
        assert_eq!(guess("a.html"), "text/html");
        assert_eq!(guess("a.unknownext"), "application/octet-stream");
        assert_eq!(guess("MLmodel"), "text/plain");
        assert_eq!(guess("dir/a.csv"), "text/plain");
        assert_eq!(guess("a.jpg"), "image/jpeg");
        assert_eq!(guess("a.svg"), "image/svg+xml");
        assert_eq!(guess("x.gz"), "application/octet-stream");
        assert_eq!(guess("x.tar.gz"), "application/x-tar");
        assert_eq!(guess("noext"), "application/octet-stream");
        assert_eq!(guess(".hidden"), "application/octet-stream");
    }
}
